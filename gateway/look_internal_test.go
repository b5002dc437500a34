package gateway

import (
	"strings"
	"testing"
)

// FuzzPageTemplate: whatever an organizer uploads, the check returns (no
// panic, no runaway render), and a template it accepts places the waiting
// room exactly once and brings no script of its own onto every sample page.
func FuzzPageTemplate(f *testing.F) {
	for _, s := range []string{
		`{{.WaitingRoom}}`, `<header>{{.Title}}</header><main>{{.WaitingRoom}}</main>`,
		`<style nonce="{{.Nonce}}">p{color:red}</style>{{.WaitingRoom}}`, `{{range .T}}{{.}}{{end}}{{.WaitingRoom}}`,
		`{{if .Message}}{{.WaitingRoom}}{{else}}{{.WaitingRoom}}{{end}}`, `<script>{{.WaitingRoom}}</script>`,
		`{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}{{.WaitingRoom}}`, `{{.WaitingRoom}}<img src="{{.LogoURL}}" alt="{{.LogoAlt}}">`,
		`<a href="{{.WaitingRoom}}">`, `{{.WaitingRoom}}<scr{{""}}ipt>`, `<p id="cg-{{.Room}}">{{.WaitingRoom}}</p>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tpl, err := compilePageTemplate(text)
		if err != nil {
			return
		}
		for _, d := range sampleTemplateData() {
			out, err := renderTemplate(tpl, d)
			if err != nil {
				t.Fatalf("accepted template fails on %s: %v", d.Lang, err)
			}
			if strings.Count(out, sampleWaiting) != 1 || strings.Contains(strings.ToLower(out), "<script") {
				t.Fatalf("accepted template %q renders %q", text, out)
			}
		}
	})
}
