function process(data) {
// Good: Check conditions before taking drastic actions
if (data.metadata && data.metadata.importance === "critical") {
// Only escalate for truly critical events
let result = KillCurrent();
if (result === 0) {
Info("Critical threat terminated");
}
} else {
// For non-critical events, use lighter responses
Warn("Suspicious activity logged: " + data.process.cmd);
// Log for later analysis instead of immediate action
DataSet("suspicious_" + new Date().getTime(), JSON.stringify({
process: data.process.cmd,
timestamp: new Date().toISOString()
}));
}
}
