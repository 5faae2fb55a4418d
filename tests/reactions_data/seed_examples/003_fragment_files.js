// Read configuration files
let config = ReadFile("/etc/app/config.json");
// Write forensic evidence
WriteFile("/var/log/security/incident.log", evidenceData);
// Get file metadata
let fileInfo = Stat("/suspicious/file");
