package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/router"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowdgate/crowdgate/gateway"
	"github.com/crowdgate/crowdgate/notify"
	"github.com/crowdgate/crowdgate/ws"
)

// The API document (gateway/openapi.yaml) is held to the gateway both
// ways: TestOpenAPI sends real requests to every operation in it and
// validates each request and each answer against it, and
// TestOpenAPINamesEveryRoute checks that every route the gateway registers
// is in it. A renamed field, a new status code or a new route that the
// document does not say fails one of them.

// apiCheck is a gateway under test with the document it serves: a
// validator and a router over the document, and the operations exercised.
type apiCheck struct {
	t      *testing.T
	s      *stack
	model  *v3.Document
	v      validator.Validator
	router router.Router
	seen   map[string]bool // "GET /api/v1/rooms/{room}/status"
}

// apiCall is one request and the status it must get.
type apiCall struct {
	method, path, body string
	header             []string // name, value, ...
	status             int
	// broken says the request breaks the document on purpose (no token, an
	// unknown field, a bad id): the validator must refuse it too, so the
	// document says what the gateway refuses.
	broken bool
}

func newAPICheck(t *testing.T, s *stack, doc []byte) *apiCheck {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d, config.WithFormatAssertions(), config.WithAuthenticationFunc(authenticate))
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("the document is not valid OpenAPI 3.1:\n%s", explain(errs))
	}
	return &apiCheck{t: t, s: s, model: &m.Model, v: v, router: router.NewRouter(&m.Model, router.WithPathOnlyMatching()), seen: map[string]bool{}}
}

// authenticate tells the validator whether a request carries what a
// security scheme names. Cookie names hold the room ("cg_q_{room}"): the
// path's room, or, on the booking API, any room's.
func authenticate(_ context.Context, in *config.AuthenticationInput) error {
	s, r := in.SecurityScheme, in.Request
	switch {
	case s.Type == "http" && s.Scheme == "bearer":
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") && len(h) > len("Bearer ") {
			return nil
		}
	case s.Type == "apiKey" && s.In == "cookie":
		name := s.Name
		if room, ok := in.PathParams["room"]; ok {
			name = strings.ReplaceAll(name, "{room}", room)
		}
		prefix, anyRoom := strings.CutSuffix(name, "{room}")
		for _, c := range r.Cookies() {
			if c.Name == name || anyRoom && strings.HasPrefix(c.Name, prefix) {
				return nil
			}
		}
	case s.Type == "apiKey" && s.In == "query":
		if r.URL.Query().Get(s.Name) != "" {
			return nil
		}
	}
	return fmt.Errorf("no %s %s", s.Type, s.Name)
}

func explain(errs []*valerrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %s: %s\n", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "    at %s (%s): %s\n", f.FieldPath, f.KeywordLocation, f.Reason)
		}
	}
	return b.String()
}

func (a *apiCheck) request(c apiCall) *http.Request {
	a.t.Helper()
	var body io.Reader = http.NoBody
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, a.s.srv.URL+c.path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Add(c.header[i], c.header[i+1])
	}
	return req
}

// send validates c's request, sends it, checks the status and validates
// the answer; it returns the answer, its body still unread when it is a
// switch of protocols.
func (a *apiCheck) send(c apiCall) *http.Response {
	a.t.Helper()
	what := c.method + " " + c.path
	ok, errs := a.v.ValidateHttpRequestSync(a.request(c))
	switch {
	case c.broken && ok:
		a.t.Errorf("%s: the document accepts a request the test breaks on purpose", what)
	case !c.broken && !ok:
		a.t.Errorf("%s: the request does not match the document:\n%s", what, explain(errs))
	}
	res, err := http.DefaultTransport.RoundTrip(a.request(c))
	if err != nil {
		a.t.Fatal(err)
	}
	if res.StatusCode != c.status {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		a.t.Fatalf("%s: %d %s, want %d", what, res.StatusCode, b, c.status)
	}
	check := *res
	if res.StatusCode == http.StatusSwitchingProtocols {
		check.Body = http.NoBody
	} else {
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			a.t.Fatal(err)
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		check.Body = io.NopCloser(bytes.NewReader(b))
	}
	if ok, errs := a.v.ValidateHttpResponse(a.request(c), &check); !ok {
		a.t.Errorf("%s: the %d answer does not match the document:\n%s", what, res.StatusCode, explain(errs))
	}
	route, err := a.router.FindRoute(a.request(c))
	if err != nil {
		a.t.Fatalf("%s: %v", what, err)
	}
	a.seen[strings.ToUpper(route.Method)+" "+route.Path] = true
	return res
}

// call is send for an answer with a body.
func (a *apiCheck) call(c apiCall) response {
	a.t.Helper()
	res := a.send(c)
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// socket opens a WebSocket through the document and returns the first
// frame the server sends, checked against the document's WSFrame.
func (a *apiCheck) socket(path string, header ...string) string {
	a.t.Helper()
	res := a.send(apiCall{method: "GET", path: path, status: http.StatusSwitchingProtocols, header: append([]string{
		"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==",
	}, header...)})
	conn, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		a.t.Fatalf("%s: the 101's body is no connection", path)
	}
	defer conn.Close()
	// A guard against a server that never sends, not a timing assertion.
	guard := time.AfterFunc(10*time.Second, func() { _ = conn.Close() })
	defer guard.Stop()
	var head [2]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		a.t.Fatalf("%s: no frame: %v", path, err)
	}
	n := int(head[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(conn, ext[:]); err != nil {
			a.t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	if head[0] != 0x81 || head[1]&0x80 != 0 || n == 127 {
		a.t.Fatalf("%s: first frame %x is not one unmasked text frame", path, head)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(conn, payload); err != nil {
		a.t.Fatal(err)
	}
	frame := a.model.Components.Schemas.GetOrZero("WSFrame")
	if frame == nil {
		a.t.Fatal("the document has no WSFrame schema")
	}
	if ok, errs := schema_validation.NewSchemaValidator(config.WithFormatAssertions()).ValidateSchemaBytesWithVersion(frame.Schema(), payload, 3.1); !ok {
		a.t.Errorf("%s: frame %s does not match WSFrame:\n%s", path, payload, explain(errs))
	}
	return string(payload)
}

// operations are the document's, as "METHOD /path".
func (a *apiCheck) operations() []string {
	var ops []string
	for path, item := range a.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// str reads a string field of a JSON answer.
func str(t *testing.T, r response, field string) string {
	t.Helper()
	v, _ := r.json(t)[field].(string)
	if v == "" {
		t.Fatalf("no %s in %s", field, r.body)
	}
	return v
}

// signed is a sandbox webhook's signature header for body, made as the
// sandbox makes it (Stripe's scheme).
func signed(body string) []string {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(sandboxSecret))
	m.Write([]byte(ts + "." + body))
	return []string{"Crowdgate-Signature", "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)), "Content-Type", "application/json"}
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true, sockets: true, routes: []string{"/checkout/=launch"}})
	const jsonType = "application/json"
	bearer := func(token string) []string { return []string{"Authorization", "Bearer " + token} }
	admin := append(bearer(adminToken), "Content-Type", jsonType)
	as := func(token string) []string { return append(bearer(token), "Content-Type", jsonType) }

	// The document as served is the file, and is valid OpenAPI 3.1.
	served := s.do("GET", "/api/v1/openapi.yaml", "")
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if served.status != 200 || !bytes.Equal(served.body, file) {
		t.Fatalf("GET /api/v1/openapi.yaml: %d, not the embedded openapi.yaml", served.status)
	}
	a := newAPICheck(t, s, served.body)
	a.call(apiCall{method: "GET", path: "/api/v1/openapi.yaml", status: 200})
	asJSON := a.call(apiCall{method: "GET", path: "/api/v1/openapi.json", status: 200})
	jd, err := libopenapi.NewDocument(asJSON.body)
	if err != nil {
		t.Fatal(err)
	}
	jm, err := jd.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := (&apiCheck{model: &jm.Model}).operations(), a.operations(); !slices.Equal(got, want) {
		t.Errorf("openapi.json has operations %v, openapi.yaml %v", got, want)
	}
	page := a.call(apiCall{method: "GET", path: "/api/v1/docs", status: 200})
	checkReferencePage(t, a, page)

	// Health, metrics, keys.
	a.call(apiCall{method: "GET", path: "/healthz", status: 200})
	a.call(apiCall{method: "GET", path: "/readyz", status: 200})
	a.call(apiCall{method: "GET", path: "/metrics", status: 200}) // the test client is on loopback
	a.call(apiCall{method: "GET", path: "/.well-known/jwks.json", status: 200})

	// Rooms.
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms", status: 401, broken: true})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms", header: bearer("wrong"), status: 401})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/launch", body: `{"passthrough": true}`, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/launch", body: `{"passthrough": true, "title": "Launch", "primary_color": "#112233"}`, header: admin, status: 200})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/line", body: `{"admit_per_minute": 60, "max_active": 5}`, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/smart", body: `{"adaptive": true, "adaptive_p99_ms": 250, "queue_opens_at": null}`, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/Bad_Room", body: `{}`, header: admin, status: 400, broken: true})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/line", body: `{"colour": "red"}`, header: admin, status: 400, broken: true})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/line", body: `{"title": "` + strings.Repeat("x", 70<<10) + `"}`, header: admin, status: 413, broken: true})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/line", body: `{"title": "The line", "paused": false}`, header: admin, status: 200})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/line", body: `{"mode": "lottery"}`, header: admin, status: 400, broken: true})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/nope", body: `{"paused": true}`, header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/line", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/nope", header: admin, status: 404})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/always-on", body: `{"admit_per_minute": 600, "trigger": {"active_users": 1}, "session_seconds": 60, "session_max_seconds": 600}`, header: admin, status: 201})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/always-on", body: `{"trigger": {"new_per_minute": 100, "low_watermark_percent": 50}}`, header: admin, status: 200})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/always-on", body: `{"passthrough": true}`, header: admin, status: 400})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/always-on/join", status: 200})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/always-on/join", status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/always-on", header: admin, status: 200})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/always-on", body: `{"bypass": {"cidrs": ["10.0.0.0/8", "2001:db8::/32"], "paths": ["/health", "/static/"], "header": {"name": "X-Monitor-Key", "secret": "0123456789abcdef"}}}`, header: admin, status: 200})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/always-on", body: `{"bypass": {"cidrs": ["10.0.0.1/8"]}}`, header: admin, status: 400})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/always-on", body: `{"bypass": {"header": {"name": "X-Monitor-Key", "secret_set": true}}}`, header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/always-on", header: admin, status: 200})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/fresh", body: `{}`, header: append(admin, "If-None-Match", "*"), status: 201})
	if r := a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/late", body: `{"queue_opens_at": "2020-01-01T00:00:00Z"}`, header: admin, status: 201}); !strings.Contains(string(r.body), "schedule_in_past") {
		t.Errorf("a past schedule: no warning in %s", r.body)
	}
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/late", body: `{"sale_starts_at": "2020-01-02T00:00:00Z"}`, header: admin, status: 200})
	if r := a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/fresh", body: `{"paused": true}`, header: append(admin, "If-None-Match", "*"), status: 412}); r.errorCode(t) != "precondition_failed" {
		t.Errorf("create over a room: %s", r.body)
	}
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/fresh", body: `{}`, header: append(admin, "If-None-Match", `"v1"`), status: 400, broken: true})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/gone", body: `{}`, header: admin, status: 201})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/rooms/gone", header: admin, status: 204})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/rooms/gone", header: admin, status: 404})
	a.call(apiCall{method: "POST", path: "/admin/v1/keys/rotate", header: admin, status: 200})

	// Fans: join, status, the two-places conflict, notify me, leave.
	first := a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", status: 200})
	qt := str(t, first, "queue_token")
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", header: bearer(qt), status: 200})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", body: `{"keep": "mine"}`, header: as(qt), status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/nope/join", status: 404})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", header: bearer("forged.token"), status: 401})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", body: `{}`, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, status: 403, broken: true})
	other := str(t, a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", status: 200}), "queue_token")
	conflict := a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/join", header: append(bearer(other), "Cookie", "cg_q_line="+qt), status: 409})
	if conflict.errorCode(t) != "conflict" || conflict.json(t)["places"] == nil {
		t.Fatalf("two places: %s", conflict.body)
	}
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/line/status", header: bearer(qt), status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/line/status", header: []string{"Cookie", "cg_q_line=" + qt}, status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/line/status", status: 401, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify", body: `{"email": "fan@example.com"}`, header: as(qt), status: 202})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify", body: `{}`, header: as(qt), status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify", body: `{"email": "fan@example.com"}`, header: as(other), status: 409})
	sent, err := s.redis.Client(t).XRange(context.Background(), notify.Named("waiters.line").Outbox(), "-", "+").Result()
	if err != nil || len(sent) != 1 {
		t.Fatalf("confirmations sent: %v %v", sent, err)
	}
	_, code, _ := strings.Cut(sent[0].Values["link"].(string), "&confirm=")
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify/confirm", body: `{"code": "` + code + `"}`, header: as(qt), status: 200})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify/confirm", body: `{"code": "wrong"}`, header: as(qt), status: 400})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/notify/confirm", body: `{}`, header: as(qt), status: 400, broken: true})
	a.call(apiCall{method: "DELETE", path: "/api/v1/rooms/line/notify", header: bearer(qt), status: 204})
	a.call(apiCall{method: "DELETE", path: "/api/v1/rooms/line/notify", status: 401, broken: true})
	a.call(apiCall{method: "DELETE", path: "/api/v1/rooms/line/ticket", header: bearer(other), status: 204})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/line/status", header: bearer(other), status: 404})
	a.call(apiCall{method: "DELETE", path: "/api/v1/rooms/line/ticket", status: 401, broken: true})
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/later", body: `{"queue_opens_at": "` + later + `"}`, header: admin, status: 201})
	if r := a.call(apiCall{method: "POST", path: "/api/v1/rooms/later/join", status: 409}); r.header.Get("Retry-After") == "" {
		t.Errorf("not open yet: no Retry-After")
	}

	// The WebSocket: a waiter's position, an admission, a closed room.
	if f := a.socket("/ws/v1/rooms/line?queue_token=" + url.QueryEscape(qt)); !strings.Contains(f, `"type":"position"`) {
		t.Errorf("a waiter's first frame: %s", f)
	}
	admitted := str(t, a.call(apiCall{method: "POST", path: "/api/v1/rooms/launch/join", status: 200}), "queue_token")
	if f := a.socket("/ws/v1/rooms/launch", bearer(admitted)...); !strings.Contains(f, `"type":"admitted"`) {
		t.Errorf("an admitted fan's first frame: %s", f)
	}
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/shut", body: `{}`, header: admin, status: 201})
	shut := str(t, a.call(apiCall{method: "POST", path: "/api/v1/rooms/shut/join", status: 200}), "queue_token")
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/shut", body: `{"closed": true}`, header: admin, status: 200})
	if f := a.socket("/ws/v1/rooms/shut", "Cookie", "cg_q_shut="+shut); !strings.Contains(f, `"type":"closed"`) {
		t.Errorf("a closed room's first frame: %s", f)
	}
	a.call(apiCall{method: "GET", path: "/ws/v1/rooms/line", header: []string{"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, status: 401, broken: true})
	a.call(apiCall{method: "GET", path: "/ws/v1/rooms/line", header: bearer(qt), status: 400, broken: true})

	// Admission: forward auth, release, revocations.
	at := str(t, a.call(apiCall{method: "POST", path: "/api/v1/rooms/launch/join", status: 200}), "admission_token")
	a.call(apiCall{method: "GET", path: "/auth/v1/check?room=launch", header: bearer(at), status: 200})
	a.call(apiCall{method: "GET", path: "/auth/v1/check?room=launch", header: []string{"Cookie", "cg_a_launch=" + at}, status: 200})
	if r := a.call(apiCall{method: "GET", path: "/auth/v1/check", header: []string{"X-Original-URI", "/checkout/pay"}, status: 401}); r.header.Get("X-Crowdgate-Waiting-Room") == "" {
		t.Errorf("forward auth's 401 names no waiting room")
	}
	a.call(apiCall{method: "GET", path: "/auth/v1/check", header: []string{"X-Original-URI", "/about"}, status: 200})
	a.call(apiCall{method: "GET", path: "/auth/v1/check", header: []string{"X-Original-URI", "/checkout/%zz"}, status: 403})
	a.call(apiCall{method: "GET", path: "/auth/v1/check?room=Bad_Room", status: 400, broken: true})
	a.call(apiCall{method: "GET", path: "/auth/v1/check?redirect=browser", header: []string{"X-Forwarded-Uri", "/checkout/pay", "X-Forwarded-Host", "shop.example.com", "Accept", "text/html"}, status: 302})
	a.call(apiCall{method: "GET", path: "/auth/v1/check?redirect=browser", header: []string{"X-Original-URL", "https://shop.example.com/checkout/pay", "Accept", "application/json"}, status: 401})
	a.call(apiCall{method: "GET", path: "/auth/v1/check?redirect=always", header: []string{"X-Forwarded-Uri", "/checkout/pay"}, status: 400, broken: true})
	a.call(apiCall{method: "GET", path: "/auth/v1/check/checkout", status: 401})
	a.call(apiCall{method: "GET", path: "/auth/v1/check/checkout", header: bearer(at), status: 200})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/line/release", header: bearer(at), status: 403})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/launch/release", status: 401, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/launch/release", header: bearer(at), status: 204})
	revs := a.call(apiCall{method: "GET", path: "/api/v1/rooms/launch/revocations", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/launch/revocations", header: []string{"If-None-Match", revs.header.Get("ETag")}, status: 304})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/Bad_Room/revocations", status: 400, broken: true})

	// Access codes: upload, count, the joins they let in and refuse, revoke.
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/invite", body: `{"access_code_required": true}`, header: admin, status: 201})
	a.call(apiCall{method: "POST", path: "/admin/v1/rooms/invite/codes", body: `{"codes": ["invite-0001", "invite-0002"], "uses": 1}`, header: admin, status: 201})
	a.call(apiCall{method: "POST", path: "/admin/v1/rooms/invite/codes", body: `{"codes": ["short"], "uses": 1}`, header: admin, status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/admin/v1/rooms/nope/codes", body: `{"codes": ["invite-0001"], "uses": 1}`, header: admin, status: 404})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/invite/join", status: 403})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/invite/join", body: `{"code": "invite-9999"}`, header: []string{"Content-Type", jsonType}, status: 403})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/invite/join", body: `{"code": "invite-0001"}`, header: []string{"Content-Type", jsonType}, status: 200})
	if r := a.call(apiCall{method: "GET", path: "/admin/v1/rooms/invite/codes", header: admin, status: 200}); !bytes.Contains(r.body, []byte(`"used":1`)) {
		t.Errorf("codes after one use: %s", r.body)
	}
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/nope/codes", header: admin, status: 404})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/rooms/invite/codes", header: admin, status: 204})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/rooms/nope/codes", header: admin, status: 404})

	// The room's look: logo and framing sites, and its own page template.
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/invite", body: `{"logo_url": "/logo.png", "logo_alt": "Invite", "embed_origins": ["https://shop.example.com"]}`, header: admin, status: 200})
	html := append(bearer(adminToken), "Content-Type", "text/html")
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/invite/template", body: `<header>Ours</header>{{.WaitingRoom}}`, header: html, status: 200})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/invite/template", body: `<script>x</script>{{.WaitingRoom}}`, header: html, status: 400})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/nope/template", body: `{{.WaitingRoom}}`, header: html, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/invite/template", header: admin, status: 200})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/rooms/invite/template", header: admin, status: 204})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/invite/template", header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/invite/hooks/dead", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/invite/hooks/dead?limit=0", header: admin, status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/admin/v1/rooms/invite/hooks/dead/retry", header: admin, status: 200})
	a.call(apiCall{method: "POST", path: "/admin/v1/rooms/nope/hooks/dead/retry", header: admin, status: 404})

	// Enqueue tokens: the room's setting, the join with one and the
	// refusals, and the user id forward auth hands on.
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/members", body: `{"passthrough": true, "enqueue_token": {"required": true, "hs256_secret": "` + siteSecret + `"}}`, header: admin, status: 201})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/members", body: `{"enqueue_token": {"hs256_secret_set": true, "jwks_url": ""}}`, header: admin, status: 200})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/members2", body: `{"enqueue_token": {"required": true}}`, header: admin, status: 400})
	a.call(apiCall{method: "GET", path: "/admin/v1/rooms/members", header: admin, status: 200})
	member := str(t, a.call(apiCall{method: "POST", path: "/api/v1/rooms/members/join", body: `{"enqueue_token": "` + enqueueToken(t, "fan-1", "members", time.Minute) + `"}`, header: []string{"Content-Type", jsonType}, status: 200}), "admission_token")
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/members/join", status: 401})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/members/join", body: `{"enqueue_token": "` + enqueueToken(t, "fan-1", "other", time.Minute) + `"}`, header: []string{"Content-Type", jsonType}, status: 401})
	if r := a.call(apiCall{method: "GET", path: "/auth/v1/check?room=members", header: bearer(member), status: 200}); r.header.Get("X-Crowdgate-User") != "fan-1" {
		t.Errorf("forward auth for a member: X-Crowdgate-User %q", r.header.Get("X-Crowdgate-User"))
	}

	// Fairness: the commitment before the draw, the proof after.
	opens := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/drop", body: `{"mode": "random_prequeue", "queue_opens_at": "` + opens + `", "sale_starts_at": "` + later + `"}`, header: admin, status: 201})
	a.call(apiCall{method: "POST", path: "/api/v1/rooms/drop/join", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/drop/fairness", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/drop/fairness/participants", status: 409})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/drop", body: `{"sale_starts_at": "` + time.Now().Add(-time.Second).UTC().Format(time.RFC3339) + `"}`, header: admin, status: 200})
	if res, err := s.store.Draw(context.Background(), "drop"); err != nil || !res.Drew {
		t.Fatalf("draw: %+v %v", res, err)
	}
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/drop/fairness", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/drop/fairness/participants", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/rooms/nope/fairness", status: 404})

	// Events.
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/gig", body: eventDoc, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/gig", body: eventDoc, header: admin, status: 200})
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/tiny", body: `{"room": "launch", "ticket_types": [{"id": "ga", "name": "GA", "capacity": 1, "price_minor": 100, "currency": "INR", "per_order_limit": 4}]}`, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/bad", body: `{"ticket_types": []}`, header: admin, status: 400, broken: true})
	if r := a.call(apiCall{method: "PUT", path: "/admin/v1/events/orphan", body: `{"room": "nowhere", "ticket_types": [{"id": "ga", "name": "GA", "capacity": 1, "price_minor": 100, "currency": "INR", "per_order_limit": 1}]}`, header: admin, status: 201}); !strings.Contains(string(r.body), "room_not_found") {
		t.Errorf("an event whose room does not exist: no warning in %s", r.body)
	}
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/more", body: `{"room": "launch", "per_admission_limit": 6, "ticket_types": [{"id": "ga", "name": "GA", "capacity": 9, "price_minor": 100, "currency": "INR", "per_order_limit": 4}]}`, header: admin, status: 201})
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/more", body: `{"room": "launch", "per_admission_limit": 3, "ticket_types": [{"id": "ga", "name": "GA", "capacity": 9, "price_minor": 100, "currency": "INR", "per_order_limit": 4}]}`, header: admin, status: 400})
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/more", body: `{"room": "launch", "per_admission_limit": -1, "ticket_types": [{"id": "ga", "name": "GA", "capacity": 9, "price_minor": 100, "currency": "INR", "per_order_limit": 4}]}`, header: admin, status: 400, broken: true})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/nope", header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/events", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/events/gig", status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/events/nope", status: 404})

	// Holds, checkout, the order, the payment webhook.
	fan := s.fan("launch")
	hold := a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 2}`, header: append(as(fan), "Idempotency-Key", "click-1"), status: 201})
	if r := a.call(apiCall{method: "GET", path: "/api/v1/events/gig", header: as(fan), status: 200}); !strings.Contains(string(r.body), `"limit":{"per_admission":4,"left":2}`) {
		t.Errorf("the event with an admission: %s", r.body)
	}
	holdID := str(t, hold, "hold_id")
	if r := a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 2}`, header: append(as(fan), "Idempotency-Key", "click-1"), status: 201}); r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: no Idempotent-Replayed")
	}
	if r := a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 1}`, header: as(fan), status: 409}); r.errorCode(t) != "hold_exists" {
		t.Errorf("second hold: %s", r.body)
	}
	a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 0}`, header: as(fan), status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 1}`, header: []string{"Content-Type", jsonType}, status: 401, broken: true})
	a.call(apiCall{method: "PUT", path: "/admin/v1/rooms/elsewhere", body: `{"passthrough": true}`, header: admin, status: 201})
	a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 1}`, header: as(s.fan("elsewhere")), status: 403})
	second := s.fan("launch")
	a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 5}`, header: as(second), status: 400})
	if r := a.call(apiCall{method: "POST", path: "/api/v1/events/tiny/holds", body: `{"ticket_type": "ga", "quantity": 2}`, header: as(second), status: 409}); r.errorCode(t) != "sold_out" {
		t.Errorf("over what is left: %s", r.body)
	}
	a.call(apiCall{method: "GET", path: "/api/v1/holds/" + holdID, header: bearer(fan), status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/holds/" + holdID, header: bearer(second), status: 404})
	a.call(apiCall{method: "GET", path: "/api/v1/holds/" + holdID, status: 401, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/holds/" + holdID + "/checkout", body: `{}`, header: as(fan), status: 400, broken: true})
	order := a.call(apiCall{method: "POST", path: "/api/v1/holds/" + holdID + "/checkout", body: `{"provider": "sandbox", "email": "fan@example.com"}`, header: as(fan), status: 201})
	orderID := str(t, order, "order_id")
	payID, _ := order.json(t)["payment"].(map[string]any)["id"].(string)
	a.call(apiCall{method: "GET", path: "/api/v1/orders/" + orderID, status: 200})
	a.call(apiCall{method: "GET", path: "/api/v1/orders/nope", status: 404})
	paid := `{"id": "evt_1", "type": "payment.succeeded", "payment_id": "` + payID + `"}`
	if r := a.call(apiCall{method: "POST", path: "/api/v1/payments/sandbox/webhook", body: paid, header: signed(paid), status: 200}); r.json(t)["result"] != "paid" {
		t.Errorf("webhook: %s", r.body)
	}
	if r := a.call(apiCall{method: "POST", path: "/api/v1/payments/sandbox/webhook", body: paid, header: signed(paid), status: 200}); r.json(t)["result"] != "duplicate" {
		t.Errorf("webhook again: %s", r.body)
	}
	a.call(apiCall{method: "POST", path: "/api/v1/payments/sandbox/webhook", body: paid, header: []string{"Crowdgate-Signature", "t=1,v1=00", "Content-Type", jsonType}, status: 400})
	a.call(apiCall{method: "POST", path: "/api/v1/payments/sandbox/webhook", body: paid, header: []string{"Content-Type", jsonType}, status: 400, broken: true})
	a.call(apiCall{method: "POST", path: "/api/v1/payments/nope/webhook", body: paid, header: signed(paid), status: 404})
	a.call(apiCall{method: "GET", path: "/api/v1/orders/" + orderID, status: 200})
	a.call(apiCall{method: "POST", path: "/api/v1/holds/" + holdID + "/checkout", body: `{"provider": "sandbox"}`, header: as(fan), status: 409})
	if r := a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 3}`, header: as(fan), status: 409}); r.errorCode(t) != "limit_reached" {
		t.Errorf("past the per-admission limit: %s", r.body)
	}
	back := str(t, a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 1}`, header: as(second), status: 201}), "hold_id")
	a.call(apiCall{method: "DELETE", path: "/api/v1/holds/" + back, header: bearer(second), status: 204})
	a.call(apiCall{method: "DELETE", path: "/api/v1/holds/" + back, header: bearer(fan), status: 404})
	third := s.fan("launch")
	taken := str(t, a.call(apiCall{method: "POST", path: "/api/v1/events/gig/holds", body: `{"ticket_type": "ga", "quantity": 1}`, header: as(third), status: 201}), "hold_id")
	a.call(apiCall{method: "DELETE", path: "/admin/v1/holds/" + taken, header: admin, status: 204})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/holds/nope", header: admin, status: 404})

	// Deleting events: never one with a paid order.
	if r := a.call(apiCall{method: "DELETE", path: "/admin/v1/events/gig", header: admin, status: 409}); r.errorCode(t) != "event_has_orders" {
		t.Errorf("delete an event with a paid order: %s", r.body)
	}
	a.call(apiCall{method: "PUT", path: "/admin/v1/events/scrap", body: eventDoc, header: admin, status: 201})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/events/scrap", header: admin, status: 204})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/events/scrap", header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/api/v1/events/scrap", status: 404})
	a.call(apiCall{method: "DELETE", path: "/admin/v1/events/Bad_Event", header: admin, status: 404, broken: true})

	// The organizers' reads of an event.
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig/log", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig/log?limit=2", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig/log?limit=0", header: admin, status: 400, broken: true})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/nope/log", header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig/audit", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/nope/audit", header: admin, status: 404})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/gig/notifications/dead", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/events/nope/notifications/dead", header: admin, status: 404})

	// The dashboard's reads, by token and by session.
	a.call(apiCall{method: "GET", path: "/admin/v1/dashboard", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/dashboard?brief=1", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/audit", header: admin, status: 200})
	a.call(apiCall{method: "GET", path: "/admin/v1/audit?limit=5000", header: admin, status: 400, broken: true})
	session, _ := s.login()
	a.call(apiCall{method: "GET", path: "/admin/v1/dashboard", header: []string{"Cookie", "cg_admin=" + session}, status: 200})
	a.call(apiCall{method: "PATCH", path: "/admin/v1/rooms/line", body: `{"paused": true}`, header: []string{"Cookie", "cg_admin=" + session, "Content-Type", jsonType}, status: 403})

	// Last, as it locks this address out of the admin API: wrong tokens
	// are rate-limited.
	for range 20 {
		if s.do("GET", "/admin/v1/rooms", "", bearer("guess")...).status == 429 {
			break
		}
	}
	if r := a.call(apiCall{method: "GET", path: "/admin/v1/rooms", header: bearer("guess"), status: 429}); r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}

	var missed []string
	for _, op := range a.operations() {
		if !a.seen[op] {
			missed = append(missed, op)
		}
	}
	if len(missed) > 0 {
		t.Errorf("operations the test never exercised:\n  %s", strings.Join(missed, "\n  "))
	}
}

// checkReferencePage holds /api/v1/docs to the document: every operation
// and path on it, every page, and nothing it would fetch from elsewhere.
func checkReferencePage(t *testing.T, a *apiCheck, r response) {
	t.Helper()
	page := string(r.body)
	for path, item := range a.model.Paths.PathItems.FromOldest() {
		if !strings.Contains(page, `<code class="path">`+path+`</code>`) {
			t.Errorf("the reference page does not list %s", path)
		}
		for method, op := range item.GetOperations().FromOldest() {
			if op.OperationId == "" || !strings.Contains(page, `id="op-`+op.OperationId+`"`) {
				t.Errorf("the reference page has no entry for %s %s (%q)", method, path, op.OperationId)
			}
		}
	}
	for name := range a.model.Components.Schemas.FromOldest() {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("the reference page does not show schema %s", name)
		}
	}
	for _, p := range documentedRoutes(t).pages {
		if !strings.Contains(page, `<code class="path">`+p+`</code>`) {
			t.Errorf("the reference page does not list the page %s", p)
		}
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("reference page headers: %v", r.header)
	}
	if m := regexp.MustCompile(`<script|\ssrc=|href="(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the reference page would load %q: it must work offline", m)
	}
}

// routeSet is the routes the document names, as "METHOD /path/{}" with
// parameters unnamed: operations, pages and the reverse proxy's; "ANY"
// for a path that answers every method.
type routeSet struct {
	all   map[string]bool
	pages []string // the pages' paths, as written
}

var paramPattern = regexp.MustCompile(`\{[^}]*\}`)

func documentedRoutes(t *testing.T) routeSet {
	t.Helper()
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := libopenapi.NewDocument(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	set := routeSet{all: map[string]bool{}}
	for path, item := range m.Model.Paths.PathItems.FromOldest() {
		p := paramPattern.ReplaceAllString(path, "{}")
		if _, ok := item.Extensions.Get("x-crowdgate-any-method"); ok {
			if ops := item.GetOperations(); ops.Len() != 1 || item.Get == nil {
				t.Errorf("%s answers every method: document it as one GET", path)
			}
			set.all["ANY "+p] = true
			continue
		}
		for method := range item.GetOperations().FromOldest() {
			set.all[strings.ToUpper(method)+" "+p] = true
		}
	}
	for _, ext := range []string{"x-crowdgate-pages", "x-crowdgate-proxy"} {
		node, ok := m.Model.Extensions.Get(ext)
		if !ok {
			t.Fatalf("the document has no %s", ext)
		}
		var note struct {
			Routes []struct {
				Methods []string `yaml:"methods"`
				Path    string   `yaml:"path"`
			} `yaml:"routes"`
		}
		if err := node.Decode(&note); err != nil || len(note.Routes) == 0 {
			t.Fatalf("%s: %v", ext, err)
		}
		for _, r := range note.Routes {
			for _, method := range r.Methods {
				set.all[method+" "+paramPattern.ReplaceAllString(r.Path, "{}")] = true
			}
			if ext == "x-crowdgate-pages" {
				set.pages = append(set.pages, r.Path)
			}
		}
	}
	return set
}

// TestOpenAPINamesEveryRoute: every route a gateway with every part
// (booking, the sandbox, WebSockets, notifications, the reverse proxy) registers is in
// the document, as an operation, a page or the proxy's catch-all, and the
// document names no route the gateway does not have.
func TestOpenAPINamesEveryRoute(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, stackOptions{booking: true})
	hub, err := ws.New(s.ctl, s.store, ws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := url.Parse("http://origin.invalid")
	g, err := gateway.New(gateway.Config{
		AdminToken: adminToken, Ready: s.store.Ping, Store: s.store, Booking: s.core, Sandbox: s.sandbox,
		Sockets: hub, Upstream: origin, Notify: true, Registry: prometheus.NewRegistry(),
	}, s.ctl, s.keys)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string][]string{}
	for _, r := range g.EchoRoutes() {
		if r.Method == echo.RouteNotFound {
			continue // a group's fallback, no route of its own
		}
		p := regexp.MustCompile(`:[^/]+|\*$`).ReplaceAllString(r.Path, "{}")
		methods[p] = append(methods[p], r.Method)
	}
	registered := map[string]bool{}
	for p, ms := range methods {
		if len(ms) >= 11 { // echo's Any: every method it knows
			registered["ANY "+p] = true
			continue
		}
		for _, m := range ms {
			registered[m+" "+p] = true
		}
	}
	documented := documentedRoutes(t).all
	for r := range registered {
		if !documented[r] {
			t.Errorf("the gateway serves %s, which openapi.yaml does not name (an operation, x-crowdgate-pages or x-crowdgate-proxy)", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("openapi.yaml names %s, which the gateway does not serve", r)
		}
	}
}
