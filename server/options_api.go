package server

import "errors"

// ValidateAPI reports the first inconsistent option of the server API
// listener. cmd/wsedge reads -api-key-file before this runs, so a key from a
// file counts.
func (o *Options) ValidateAPI() error {
	switch {
	case o.APIAddr != "" && o.APIKey == "":
		return errors.New("-api-addr: the server API needs a key: set -api-key, -api-key-file or WSEDGE_API_KEY")
	case o.APIMaxBody <= 0:
		return errors.New("-api-max-body: must be positive")
	case o.APIMaxConns < 0:
		return errors.New("-api-max-conns: must not be negative")
	case o.APITimeout <= 0:
		return errors.New("-api-timeout: must be positive")
	case o.APITLSCert != "" && o.APITLSKey == "":
		return errors.New("-api-tls-cert given without -api-tls-key")
	case o.APITLSKey != "" && o.APITLSCert == "":
		return errors.New("-api-tls-key given without -api-tls-cert")
	}
	return nil
}
