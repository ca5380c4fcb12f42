package deploy

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The parts of the Kubernetes objects the tests read.
type (
	k8sObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec      k8sSpec  `yaml:"spec"`
		Resources []string `yaml:"resources"` // a Kustomization's
	}
	k8sSpec struct {
		Selector k8sSelector `yaml:"selector"` // Service: the labels themselves
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name       string `yaml:"name"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		MaxUnavailable int `yaml:"maxUnavailable"`
	}
	k8sSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
		Plain       map[string]string `yaml:",inline"`
	}
	k8sContainer struct {
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  k8sProbe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop struct {
				Sleep struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
	}
	k8sProbe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
)

// loadK8s reads every object of deploy/k8s, by kind.
func loadK8s(t *testing.T) (map[string]k8sObject, []string) {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	objs := map[string]k8sObject{}
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, f))))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" {
				t.Errorf("%s: an object without apiVersion or kind", f)
			}
			if _, dup := objs[o.Kind]; dup {
				t.Fatalf("%s: a second %s", f, o.Kind)
			}
			objs[o.Kind] = o
		}
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "Kustomization"} {
		if _, ok := objs[kind]; !ok {
			t.Fatalf("k8s/ has no %s", kind)
		}
	}
	return objs, files
}

// argFlags splits "-name=value" container args into a map.
func argFlags(t *testing.T, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !ok {
			t.Errorf("container arg %q: write flags as -name=value", a)
			continue
		}
		m[name] = value
	}
	return m
}

// defaultOf reads a flag's default from wsedge -h.
func defaultOf(t *testing.T, flag string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(flag) + `\b.*\(default "?([^")]*)"?\)$`).FindStringSubmatch(usage(t))
	if m == nil {
		t.Fatalf("wsedge -h shows no default for -%s", flag)
	}
	return m[1]
}

func mustDuration(t *testing.T, what, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return d
}

// pendingDuration finds "-name=DUR" or "WSEDGE_NAME=DUR" in text, commented
// out or not: the planned value of a flag that is not there yet.
func pendingDuration(t *testing.T, text, flag string) time.Duration {
	t.Helper()
	env := "WSEDGE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
	m := regexp.MustCompile(`(?:-` + regexp.QuoteMeta(flag) + `|` + env + `)=(\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no planned value for -%s", flag)
	}
	return mustDuration(t, "-"+flag, m[1])
}

func TestK8sManifests(t *testing.T) {
	objs, files := loadK8s(t)
	dep, svc, pdb := objs["Deployment"], objs["Service"], objs["PodDisruptionBudget"]

	// kubectl apply -k takes exactly the files that are there.
	var listed, present []string
	listed = append(listed, objs["Kustomization"].Resources...)
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			present = append(present, b)
		}
	}
	sort.Strings(listed)
	sort.Strings(present)
	if !slices.Equal(listed, present) {
		t.Errorf("kustomization.yaml lists %v, k8s/ holds %v", listed, present)
	}

	// Selectors find the pods.
	podLabels := dep.Spec.Template.Metadata.Labels
	for what, sel := range map[string]map[string]string{
		"Deployment selector": dep.Spec.Selector.MatchLabels,
		"Service selector":    svc.Spec.Selector.Plain,
		"PDB selector":        pdb.Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 {
			t.Errorf("%s is empty", what)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s %s=%s does not match the pod labels %v", what, k, v, podLabels)
			}
		}
	}
	if pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("PDB maxUnavailable %d, want 1 (one pod's clients reconnect at a time)", pdb.Spec.MaxUnavailable)
	}

	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Every flag exists, and the node starts with these very arguments
	// (addresses moved to free loopback ports: a later flag wins).
	fl, args := flags(t), argFlags(t, c.Args)
	for name := range args {
		if !fl[name] {
			t.Errorf("container arg -%s: wsedge -h has no such flag", name)
		}
	}
	n := startNode(t, nil, append(slices.Clone(c.Args), "-addr=127.0.0.1:0", "-admin-addr=127.0.0.1:0")...)

	// Ports: the container ports are the ones the args listen on.
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(p.ContainerPort)
	}
	if ports["ws"] != port(t, args["addr"]) || ports["admin"] != port(t, args["admin-addr"]) {
		t.Errorf("container ports %v do not match -addr=%s -admin-addr=%s", ports, args["addr"], args["admin-addr"])
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort]; !ok {
			t.Errorf("Service port %s targets %q, not a container port", p.Name, p.TargetPort)
		}
		if p.TargetPort == "admin" {
			t.Errorf("the Service exposes the admin port (pprof) to clients")
		}
	}

	// Probes hit the admin port; a path not marked NOT YET AVAILABLE
	// answers 200 on a serving node.
	text := readFile(t, "k8s/deployment.yaml")
	pendingPaths := map[string]bool{}
	for _, it := range pendingItems(t) {
		pendingPaths[it.item] = true
	}
	for what, p := range map[string]k8sProbe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p.HTTPGet.Port != "admin" || p.HTTPGet.Path == "" {
			t.Errorf("%s probe %+v: want an httpGet on the admin port", what, p.HTTPGet)
			continue
		}
		if pendingPaths[p.HTTPGet.Path] {
			continue // TestPendingStillPending checks it is still missing
		}
		if code, body := get(t, "http://"+n.admin+p.HTTPGet.Path); code != 200 {
			t.Errorf("%s probe %s: %d %s on a serving node", what, p.HTTPGet.Path, code, body)
		}
	}
	if c.LivenessProbe.HTTPGet.Path == "/ready" {
		t.Errorf("liveness on /ready would restart pods that are only draining or have lost the broker")
	}

	// Time budget of a stop: preStop, then SIGTERM: lame duck, drain,
	// admin stop (2s); all within the grace period.
	shutdown := mustDuration(t, "-shutdown-timeout", cmp(args["shutdown-timeout"], defaultOf(t, "shutdown-timeout")))
	lameduck := pendingDuration(t, text, "lameduck")
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + lameduck + shutdown + 2*time.Second; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v <= preStop %v + lame duck %v + shutdown %v + 2s", grace, preStop, lameduck, shutdown)
	}
	if preStop <= 0 {
		t.Errorf("no preStop sleep: the endpoint removal would race SIGTERM")
	}
	// Liveness must not kill a pod that drains, even if a probe stalls
	// (admin /health answers 200 while draining).
	lp := c.LivenessProbe
	if window := time.Duration(lp.PeriodSeconds*lp.FailureThreshold) * time.Second; window <= lameduck+shutdown {
		t.Errorf("liveness fails after %v, before a drain can end (%v)", window, lameduck+shutdown)
	}

	// Non-root, as the image's USER.
	sc := c.SecurityContext
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 ||
		!sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("security context: pod %+v, container %+v", pod.SecurityContext, sc)
	}
	if uid := dockerfileUser(t); strconv.Itoa(pod.SecurityContext.RunAsUser) != uid {
		t.Errorf("runAsUser %d, the image's USER is %s", pod.SecurityContext.RunAsUser, uid)
	}
}

// cmp returns the first non-empty string.
func cmp(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
