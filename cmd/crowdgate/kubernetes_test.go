package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKubernetesManifests checks deploy/kubernetes/crowdgate.yaml (no
// cluster in CI): every document parses; the gateway's arguments and
// environment are ones serve accepts, with a config file that loads; its
// probes answer on a running serve; its Redis URL names the Redis Service;
// and that Redis runs with the durable settings of deploy/redis.conf.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/kubernetes/crowdgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]map[string]any{} // "Kind/name" → object
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("a document does not parse: %v\n%s", err, doc)
		}
		objs[yamlAt(t, o, "kind").(string)+"/"+yamlAt(t, o, "metadata", "name").(string)] = o
	}
	get := func(key string) map[string]any {
		t.Helper()
		o, ok := objs[key]
		if !ok {
			t.Fatalf("no %s", key)
		}
		return o
	}

	dep := get("Deployment/crowdgate")
	c := yamlAt(t, dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	env := map[string]string{}
	secrets := map[string]string{}
	for k, v := range yamlAt(t, get("Secret/crowdgate"), "stringData").(map[string]any) {
		secrets[k] = v.(string)
	}
	src, err := os.ReadFile("options.go") // where serve reads its flags and variables
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(CROWDGATE_[A-Z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		name := e["name"].(string)
		if !known[name] {
			t.Errorf("env %s is not a setting of serve", name)
		}
		if v, ok := e["value"].(string); ok {
			env[name] = v
		} else {
			ref := yamlAt(t, e, "valueFrom", "secretKeyRef").(map[string]any)
			if ref["name"] != "crowdgate" || secrets[ref["key"].(string)] == "" {
				t.Errorf("env %s: secret key %v is not in Secret/crowdgate", name, ref["key"])
			}
			env[name] = secrets[ref["key"].(string)]
		}
	}
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	o, err := parseOptions(args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("serve refuses the manifest's arguments %v: %v", args, err)
	}
	// The config file is the ConfigMap's key at the volume's mount path.
	mount := c["volumeMounts"].([]any)[0].(map[string]any)["mountPath"].(string)
	key := strings.TrimPrefix(o.configFile, mount+"/")
	conf, ok := yamlAt(t, get("ConfigMap/crowdgate-config"), "data").(map[string]any)[key].(string)
	if !ok {
		t.Fatalf("--config %s is not a key of ConfigMap/crowdgate-config mounted at %s", o.configFile, mount)
	}
	if _, _, err := loadConfig([]byte(conf)); err != nil {
		t.Errorf("the ConfigMap's config does not load: %v", err)
	}
	_, port, _ := net.SplitHostPort(o.addr)
	if p := c["ports"].([]any)[0].(map[string]any)["containerPort"]; port != "8080" || p != 8080.0 {
		t.Errorf("listens on %s, the container port is %v", o.addr, p)
	}

	// Metrics are scraped on their own port, which the annotations name and
	// the Service does not expose.
	_, mport, _ := net.SplitHostPort(o.metricsAddr)
	ann, _ := yamlAt(t, dep, "spec", "template", "metadata", "annotations").(map[string]any)
	var named any
	for _, p := range c["ports"].([]any) {
		if p := p.(map[string]any); p["name"] == "metrics" {
			named = p["containerPort"]
		}
	}
	if mport == "" || ann["prometheus.io/port"] != mport || fmt.Sprint(named) != mport {
		t.Errorf("--metrics-addr %q, prometheus.io/port %v, container port \"metrics\" %v: they must agree", o.metricsAddr, ann["prometheus.io/port"], named)
	}
	for _, p := range yamlAt(t, get("Service/crowdgate"), "spec", "ports").([]any) {
		if tp := p.(map[string]any)["targetPort"]; tp == "metrics" || fmt.Sprint(tp) == mport {
			t.Errorf("Service/crowdgate exposes the metrics port")
		}
	}

	// The probes' paths answer on a running serve.
	inst := startServe(t, nil)
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		path := yamlAt(t, c, probe, "httpGet", "path").(string)
		if code, _ := call(t, "GET", inst.base+path, ""); code != 200 {
			t.Errorf("%s %s: %d", probe, path, code)
		}
	}

	// The Redis URL names the Redis Service, whose Redis is durable.
	redisPort := yamlAt(t, get("Service/crowdgate-redis"), "spec", "ports").([]any)[0].(map[string]any)["port"].(float64)
	if want := fmt.Sprintf("redis://crowdgate-redis:%d", int(redisPort)); o.redisURL != want {
		t.Errorf("CROWDGATE_REDIS_URL %q, want %q (Service/crowdgate-redis)", o.redisURL, want)
	}
	redisConf := yamlAt(t, get("ConfigMap/crowdgate-redis"), "data", "redis.conf").(string)
	shipped, err := os.ReadFile("../../deploy/redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(shipped), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !strings.Contains(redisConf, line) {
			t.Errorf("the Redis ConfigMap lacks %q of deploy/redis.conf", line)
		}
	}

	// Rolling updates and disruptions keep a quorum of gateways.
	replicas := yamlAt(t, dep, "spec", "replicas").(float64)
	minAvail := yamlAt(t, get("PodDisruptionBudget/crowdgate"), "spec", "minAvailable").(float64)
	minHPA := yamlAt(t, get("HorizontalPodAutoscaler/crowdgate"), "spec", "minReplicas").(float64)
	if minAvail >= replicas || minAvail >= minHPA {
		t.Errorf("minAvailable %v leaves no room to evict from %v replicas (HPA min %v)", minAvail, replicas, minHPA)
	}
}
