package tlsrecord

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpenSSLKeyUpdate: Debian's openssl s_client talks to a switched server.
// Its "k" command sends a KeyUpdate, "K" one with update_requested; the data
// after each must still decrypt here, and our answering KeyUpdate must be
// accepted (the echo after it, sealed under our next key, reaches s_client).
// Run for each TLS 1.3 cipher suite, which OpenSSL lets us choose.
func TestOpenSSLKeyUpdate(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	base, files := serverConfig(t)
	for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(suite, func(t *testing.T) {
			ln := listen(t)
			res := echoServer(t, ln, NewAcceptor(base), base, true, []byte("greeting\n"), 20*time.Millisecond)
			cmd := exec.Command(bin, "s_client", "-connect", ln.Addr().String(), "-tls1_3",
				"-ciphersuites", suite, "-CAfile", files.cert, "-msg")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 256)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var transcript []string
			// await reads s_client's output until a line contains want.
			await := func(want string) {
				t.Helper()
				timeout := time.After(10 * time.Second)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("s_client ended before %q:\n%s", want, strings.Join(transcript, "\n"))
						}
						transcript = append(transcript, l)
						if strings.Contains(l, want) {
							return
						}
					case <-timeout:
						t.Fatalf("no %q from s_client:\n%s", want, strings.Join(transcript, "\n"))
					}
				}
			}
			await("greeting")
			io.WriteString(stdin, "before\n")
			await("before")
			// s_client drops the rest of a read that starts with a
			// command letter: send the next line once it acted.
			io.WriteString(stdin, "k\n") // KeyUpdate, update_not_requested
			await(">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
			io.WriteString(stdin, "after-k\n")
			await("after-k")
			io.WriteString(stdin, "K\n") // KeyUpdate, update_requested
			// s_client's -msg shows our answering KeyUpdate arriving
			// (<<<); the echo after it is sealed under our next key.
			await("<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
			io.WriteString(stdin, "after-K\n")
			await("after-K")
			io.WriteString(stdin, "again\n")
			await("again")
			stdin.Close() // s_client sends close_notify at EOF
			r := <-res
			cmd.Wait()
			if r.err != nil {
				t.Fatalf("server: %v\n%s", r.err, strings.Join(transcript, "\n"))
			}
			if !r.switched {
				t.Fatalf("did not switch: %v", r.switchError)
			}
			if want := "before\nafter-k\nafter-K\nagain\n"; string(r.received) != want {
				t.Fatalf("server received %q, want %q", r.received, want)
			}
			if r.keyUpdates != 1 {
				t.Fatalf("sent %d KeyUpdates, want 1 (the answer to K)", r.keyUpdates)
			}
		})
	}
}
