package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// envoyConf is the shipped Envoy configuration.
const envoyConf = "../../deploy/envoy/envoy.yaml"

// TestEnvoyConfig checks deploy/envoy/envoy.yaml, which CI cannot run (Envoy
// is not a Debian package): it parses, routes name clusters that exist, the
// ext_authz filter asks Crowdgate's check, fails closed, comes before the
// router, sends no client URI header and passes a passing check's
// Set-Cookie to the browser, and a client's X-Crowdgate-* headers, in any
// spelling a site may read as one of them, never reach the site.
func TestEnvoyConfig(t *testing.T) {
	var conf map[string]any
	readYAMLFile(t, envoyConf, &conf)
	clusters := map[string]bool{}
	for _, c := range yamlAt(t, conf, "static_resources", "clusters").([]any) {
		clusters[yamlAt(t, c, "name").(string)] = true
	}
	hcm := yamlAt(t, conf, "static_resources", "listeners").([]any)[0]
	hcm = yamlAt(t, hcm, "filter_chains").([]any)[0]
	hcm = yamlAt(t, yamlAt(t, hcm, "filters").([]any)[0], "typed_config")
	for _, vh := range yamlAt(t, hcm, "route_config", "virtual_hosts").([]any) {
		for _, r := range yamlAt(t, vh, "routes").([]any) {
			if c := yamlAt(t, r, "route", "cluster"); !clusters[c.(string)] {
				t.Errorf("route %v: no cluster %v", yamlAt(t, r, "match"), c)
			}
		}
	}
	filters := yamlAt(t, hcm, "http_filters").([]any)
	var authz map[string]any
	for i, f := range filters {
		switch yamlAt(t, f, "name") {
		case "envoy.filters.http.ext_authz":
			authz = yamlAt(t, f, "typed_config").(map[string]any)
		case "envoy.filters.http.router":
			if authz == nil || i != len(filters)-1 {
				t.Error("ext_authz must come before the router, which comes last")
			}
		}
	}
	if authz == nil {
		t.Fatal("no ext_authz filter")
	}
	if authz["failure_mode_allow"] != false {
		t.Error("ext_authz must fail closed")
	}
	if p := yamlAt(t, authz, "http_service", "path_prefix"); p != "/auth/v1/check" {
		t.Errorf("path_prefix %v", p)
	}
	if c := yamlAt(t, authz, "http_service", "server_uri", "cluster"); !clusters[c.(string)] {
		t.Errorf("ext_authz: no cluster %v", c)
	}
	allowed := map[string]bool{}
	for _, p := range yamlAt(t, authz, "allowed_headers", "patterns").([]any) {
		allowed[strings.ToLower(yamlAt(t, p, "exact").(string))] = true
	}
	if !allowed["cookie"] || !allowed["accept"] {
		t.Error("ext_authz does not send the admission cookie and the Accept header")
	}
	for _, h := range clientURIHeaders {
		if allowed[h] {
			t.Errorf("ext_authz sends a client's %s", h)
		}
	}
	up := nameSet(nil)
	for _, p := range yamlAt(t, authz, "http_service", "authorization_response", "allowed_upstream_headers", "patterns").([]any) {
		up[yamlAt(t, p, "exact").(string)] = true
	}
	if len(up) != 3 || !up["x-crowdgate-queue-id"] || !up["x-crowdgate-room"] || !up["x-crowdgate-user"] {
		t.Errorf("allowed_upstream_headers %v", up)
	}
	// A passing check's Set-Cookie (a quiet triggered room's admission, a
	// sliding session's renewal) reaches the browser.
	onSuccess := nameSet(nil)
	patterns, _ := yamlAt(t, authz, "http_service", "authorization_response", "allowed_client_headers_on_success", "patterns").([]any)
	for _, p := range patterns {
		onSuccess[yamlAt(t, p, "exact").(string)] = true
	}
	if len(onSuccess) != 1 || !onSuccess["set-cookie"] {
		t.Errorf("allowed_client_headers_on_success %v, want set-cookie alone", onSuccess)
	}

	// A client's X-Crowdgate-* never reach the site: names with "_" are
	// dropped on arrival, and every name a site may read as an
	// X-Crowdgate-* header is removed before the check.
	if a := yamlAt(t, hcm, "common_http_protocol_options", "headers_with_underscores_action"); a != "DROP_HEADER" && a != "REJECT_REQUEST" {
		t.Errorf("headers_with_underscores_action %v: a client's X_Crowdgate_Room reaches the site", a)
	}
	var removes []*regexp.Regexp
	exact := map[string]bool{}
	for _, f := range filters {
		if yamlAt(t, f, "name") == "envoy.filters.http.ext_authz" {
			break
		}
		if yamlAt(t, f, "name") != "envoy.filters.http.header_mutation" {
			continue
		}
		for _, m := range yamlAt(t, f, "typed_config", "mutations", "request_mutations").([]any) {
			m := m.(map[string]any)
			if r, ok := m["remove"].(string); ok {
				exact[r] = true
			}
			if _, ok := m["remove_on_match"]; ok {
				// Envoy's safe_regex is RE2 and matches the whole name.
				re := yamlAt(t, m, "remove_on_match", "key_matcher", "safe_regex", "regex").(string)
				removes = append(removes, regexp.MustCompile("^(?:"+re+")$"))
			}
		}
	}
	removed := func(name string) bool {
		return exact[name] || slices.ContainsFunc(removes, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	var kept []string
	for _, h := range crowdgateAliases() {
		if !removed(h) {
			kept = append(kept, h)
		}
	}
	if len(kept) > 0 {
		t.Errorf("a client's %s and %d other spellings reach the site", kept[0], len(kept)-1)
	}
	for _, h := range []string{"cookie", "accept", "authorization", "x-forwarded-proto", "x-crowdgateway", "x-request-id"} {
		if removed(h) {
			t.Errorf("the client's %s is removed too", h)
		}
	}
}

// crowdgateAliases are the names, lower-cased as Envoy holds them, that
// sites behind CGI, PHP or WSGI read as one of the X-Crowdgate-* headers
// Crowdgate hands them: any character that is not a letter or a digit
// (here "-", "_", "." or "~") at each separator.
func crowdgateAliases() []string {
	seps := []string{"-", "_", ".", "~"}
	var all []string
	for _, name := range []string{"x-crowdgate-queue-id", "x-crowdgate-room", "x-crowdgate-user", "x-crowdgate-fail-open"} {
		parts := strings.Split(name, "-")
		spellings := []string{parts[0]}
		for _, p := range parts[1:] {
			var next []string
			for _, s := range spellings {
				for _, sep := range seps {
					next = append(next, s+sep+p)
				}
			}
			spellings = next
		}
		all = append(all, spellings...)
	}
	return all
}
