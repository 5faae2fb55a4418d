// Terminate the offending process
KillCurrent();
// Stop the parent process if compromised
KillParent();
// Kill specific process by PID
KillProcess(1234);
