function process(data) {
// Validate required fields
if (!data || typeof data !== 'object') {
Error("Invalid data object received");
return;
}
// Validate process information
if (data.process) {
// Sanitize command strings to prevent log injection
let cmd = data.process.cmd || "unknown";
cmd = cmd.replace(/[\x00-\x1f\x7f-\x9f]/g, ''); // Remove control characters
cmd = cmd.length > 500 ? cmd.substring(0, 500) + "..." : cmd;
Info("Sanitized command: " + cmd);
}
// Validate file paths
if (data.file && data.file.file) {
let filePath = data.file.file;
// Ensure path is absolute and doesn't contain traversal attempts
if (!filePath.startsWith('/') || filePath.includes('../')) {
Error("Invalid file path detected: " + filePath);
return;
}
}
}
