package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/captcha"
	"github.com/crowdgate/crowdgate/captcha/captchatest"
)

// TestCaptchaSecretFromFile: serve reads a provider's secret from the file
// its variable names and verifies with the siteverify URL it is given;
// rooms may name that provider and no other, and a join passes with a
// response the provider issued.
func TestCaptchaSecretFromFile(t *testing.T) {
	t.Parallel()
	p := captchatest.New(t, captcha.Turnstile, "file-secret", nil)
	file := filepath.Join(t.TempDir(), "turnstile")
	if err := os.WriteFile(file, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, map[string]string{"CROWDGATE_ADMIN_TOKEN": "tok",
		"CROWDGATE_TURNSTILE_SECRET_FILE": file, "CROWDGATE_TURNSTILE_VERIFY_URL": p.URL})
	auth := []string{"Authorization", "Bearer tok", "Content-Type", "application/json"}
	if code, m := call(t, "PUT", inst.base+"/admin/v1/rooms/t", `{"captcha": "turnstile", "captcha_site_key": "k"}`, auth...); code != 201 {
		t.Fatalf("turnstile room: %d %v", code, m)
	}
	if code, m := call(t, "PUT", inst.base+"/admin/v1/rooms/h", `{"captcha": "hcaptcha", "captcha_site_key": "k"}`, auth...); code != 400 {
		t.Fatalf("hcaptcha room without its secret: %d %v", code, m)
	}
	json := []string{"Content-Type", "application/json"}
	if code, m := call(t, "POST", inst.base+"/api/v1/rooms/t/join", "", json...); code != 428 || m["captcha"] == nil {
		t.Fatalf("join without a CAPTCHA: %d %v", code, m)
	}
	tok := p.Solve("127.0.0.1", "")
	if code, m := call(t, "POST", inst.base+"/api/v1/rooms/t/join", `{"captcha":"`+tok+`"}`, json...); code != 200 {
		t.Fatalf("join with a solved CAPTCHA: %d %v", code, m)
	}
	res, err := http.Get(inst.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`crowdgate_captcha_verifications_total{outcome="ok",provider="turnstile"} 1`,
		`crowdgate_captcha_verifications_total{outcome="unreachable",provider="turnstile"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(inst.stderr.String(), "file-secret") {
		t.Error("the secret reached the log")
	}
}

// TestCaptchaOptions: a secret is given once, a file must hold one, and a
// siteverify URL needs a secret.
func TestCaptchaOptions(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{
		{"CROWDGATE_HCAPTCHA_SECRET": "s", "CROWDGATE_HCAPTCHA_SECRET_FILE": empty},
		{"CROWDGATE_RECAPTCHA_SECRET_FILE": empty},
		{"CROWDGATE_RECAPTCHA_SECRET_FILE": filepath.Join(t.TempDir(), "missing")},
		{"CROWDGATE_TURNSTILE_VERIFY_URL": "https://siteverify.example/"},
		{"CROWDGATE_TURNSTILE_SECRET": "s", "CROWDGATE_TURNSTILE_VERIFY_URL": "/relative"},
	} {
		o, err := parseOptions(nil, func(k string) string { return env[k] }, io.Discard)
		if err == nil {
			_, err = o.config(io.Discard)
		}
		if err == nil {
			t.Errorf("%v: accepted", env)
		}
	}
	o, err := parseOptions([]string{"--recaptcha-secret", "s"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.config(io.Discard)
	if err != nil || !c.captcha.Configured(captcha.ReCAPTCHA) || c.captcha.Configured(captcha.Turnstile) {
		t.Errorf("--recaptcha-secret: %v %v", c.captcha, err)
	}
}
