package prefecttest

// PID returns the server process id (also its process group id), 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.cmd.Process == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Dir is the server's temporary directory.
func (s *Server) Dir() string { return s.dir }
