function process(data) {
// Cache frequently accessed data
let processCmd = data.process ? data.process.cmd : "";
let fileName = data.file ? data.file.basename : "";
// Use early returns to avoid unnecessary processing
if (!processCmd && !fileName) {
Info("No actionable data in event");
return;
}
// Efficient pattern matching
let suspiciousPatterns = ["wget", "curl", "nc", "bash -i"];
let isSuspicious = suspiciousPatterns.some(pattern => processCmd.includes(pattern));
if (isSuspicious) {
// Only perform expensive operations when necessary
Info("Suspicious command detected: " + processCmd);
// Batch data store operations
let timestamp = new Date().toISOString();
DataSet("last_suspicious", timestamp);
let count = parseInt(DataGet("suspicious_count") || "0") + 1;
DataSet("suspicious_count", String(count));
// Conditional expensive operations
if (count > 10) {
Warn("High frequency suspicious activity - escalating");
NetBlockIp();
}
}
}
