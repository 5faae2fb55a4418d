function process(data) {
Info("Password file accessed by: " + data.process.cmd);
// Block the process
let result = KillCurrent();
if (result === 0) {
Info("Malicious process terminated");
}
// Log to incident database
DataSet("last_passwd_access", new Date().toISOString());
}
