package booking

// SandboxRunning reports whether a Run of s is under way, so a test can
// decide only once retries have somewhere to go.
func SandboxRunning(s *Sandbox) bool { return s.running.Load() > 0 }
