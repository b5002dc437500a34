package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProxyConfigChangeMarks: in each configuration deploy/ ships for a
// proxy, every line an operator must change (listener, Crowdgate's address,
// the site's, the paths of each room...) ends in "# CHANGE:" and what to put
// there, and no other line does, so that changing the marked lines and
// nothing else gives a working proxy. Each line is known by a piece of its
// text, which the tests that run the file rewrite.
func TestProxyConfigChangeMarks(t *testing.T) {
	for _, tc := range []struct {
		file  string
		lines []string
	}{
		{nginxConf, []string{"listen 80;", "server 127.0.0.1:8080;", "server 127.0.0.1:9000;"}},
		{caddyfile, []string{":80 {", "reverse_proxy @crowdgate 127.0.0.1:8080", "reverse_proxy 127.0.0.1:8080 {", "reverse_proxy 127.0.0.1:9000"}},
		{traefikStatic, []string{`address: ":80"`, "directory: /etc/traefik/dynamic"}},
		{traefikDynamic, []string{"address: http://127.0.0.1:8080/auth/v1/check", "addAuthCookiesToResponse: [cg_a_launch]",
			"url: http://127.0.0.1:8080", "url: http://127.0.0.1:9000"}},
		{envoyConf, []string{"port_value: 8000", "port_value: 8080", "port_value: 9000"}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]int{}
			for i, line := range strings.Split(string(b), "\n") {
				code, mark, marked := strings.Cut(line, "# CHANGE:")
				code, _, _ = strings.Cut(code, "#") // a comment's text is not configuration
				var names []string
				for _, want := range tc.lines {
					if strings.Contains(code, want) {
						names = append(names, want)
						found[want]++
					}
				}
				switch {
				case marked && len(names) != 1:
					t.Errorf("line %d is marked CHANGE but is none of the lines to change: %q", i+1, line)
				case marked && strings.TrimSpace(mark) == "":
					t.Errorf("line %d: CHANGE does not say what to put there", i+1)
				case !marked && len(names) > 0:
					t.Errorf("line %d is to change but not marked: %q", i+1, line)
				}
			}
			for _, want := range tc.lines {
				if found[want] != 1 {
					t.Errorf("%q is on %d lines, want 1", want, found[want])
				}
			}
		})
	}
}
