function process(data) {
// Create evidence collection with proper security
let forensicDir = CreateTempDir("incident-*");
if (forensicDir === "") {
Error("Failed to create secure temporary directory");
return;
}
// Validate that the directory is in expected location
if (!forensicDir.startsWith("/tmp/")) {
Error("Temporary directory created in unexpected location");
return;
}
// Create evidence file with safe content
let evidence = {
timestamp: new Date().toISOString(),
event_id: uuid,
// Only include safe, non-sensitive data
process_name: data.process ? data.process.exe : "unknown",
file_accessed: data.file ? data.file.basename : "unknown"
// Avoid including full command lines or sensitive data
};
let evidencePath = forensicDir + "/evidence.json";
let writeResult = WriteFile(evidencePath, JSON.stringify(evidence, null, 2));
if (writeResult === 0) {
Info("Evidence collected securely at: " + evidencePath);
} else {
Error("Failed to write evidence: " + Errno());
}
}
