package crowdgate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointOneWay keeps the architecture of STYLE.md: cmd →
// gateway → (ws, booking, admission) → notify → queue → go-redis (→ the
// root package, which imports only the standard library), and each
// third-party package stays in the one package that owns its concern.
func TestDependenciesPointOneWay(t *testing.T) {
	const mod = "github.com/crowdgate/crowdgate/"
	forbidden := map[string][]string{
		"queue":     {mod + "admission", mod + "gateway", mod + "ws", mod + "booking", "github.com/labstack/echo", "github.com/gorilla/websocket"},
		"admission": {mod + "gateway", mod + "ws", mod + "booking", "github.com/labstack/echo", "github.com/gorilla/websocket"},
		"booking":   {mod + "gateway", mod + "ws", "github.com/labstack/echo", "github.com/gorilla/websocket"},
		"ws":        {mod + "gateway", "github.com/labstack/echo"},
		// notify delivers messages from streams; it knows no event, room
		// or order, so no domain package (booking and admission write to
		// it, never the other way).
		"notify": {mod + "admission", mod + "gateway", mod + "ws", mod + "booking", "github.com/labstack/echo", "github.com/gorilla/websocket"},
		// Receivers written in Go verify webhooks with it alone.
		"webhooksig": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "notify", mod + "guard", mod + "internal", "github.com/labstack/echo", "github.com/redis/go-redis", "github.com/prometheus"},
		// captcha speaks to CAPTCHA providers over HTTP; admission reaches
		// it through a function cmd wires, so it knows no domain package.
		"captcha": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "notify", mod + "guard", mod + "internal",
			"github.com/labstack/echo", "github.com/gorilla/websocket", "github.com/redis/go-redis", "github.com/prometheus"},
		// guard runs inside origins: it pulls in nothing of Crowdgate's but the
		// claim checks it shares with admission, which pull in nothing either
		// (guard's TestImportsOnlyStdlibAndJWT checks the whole list).
		"guard":           {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", "github.com/labstack/echo", "github.com/redis/go-redis"},
		"internal/claims": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "guard", "github.com/labstack/echo", "github.com/redis/go-redis"},
		// The key-set reader guard shares with the gateway: like claims.
		"internal/jwks": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "guard", mod + "internal/claims", "github.com/labstack/echo", "github.com/redis/go-redis", "github.com/prometheus"},
		// The root package holds what every domain package shares (the
		// kinded crowdgate.Error), so it imports nothing of ours and no
		// third party: anything may import it without a cycle.
		".": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "guard", mod + "internal", mod + "cmd", "github.com/labstack/echo", "github.com/gorilla/websocket", "github.com/redis/go-redis", "github.com/prometheus"},
		// api is the HTTP API's wire types, which clients import: like the
		// root package (the one of ours it may import), it pulls in nothing
		// else of ours and no third party.
		"api": {mod + "admission", mod + "gateway", mod + "queue", mod + "ws", mod + "booking", mod + "notify", mod + "webhooksig", mod + "guard", mod + "internal", mod + "cmd",
			"github.com/labstack/echo", "github.com/gorilla/websocket", "github.com/redis/go-redis", "github.com/prometheus", "github.com/golang-jwt", "golang.org/x", "sigs.k8s.io"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			for _, b := range bad {
				if d == b || strings.HasPrefix(d, b+"/") {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}

// TestAdmissionKnowsNoHTTP: admission decides and signs; serving is gateway's.
func TestAdmissionKnowsNoHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "./admission").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "net/http") {
			t.Errorf("admission imports %s", imp)
		}
	}
}
