function process(data) {
// Create audit record for all reaction executions
let auditRecord = {
timestamp: new Date().toISOString(),
reaction_name: name,
reaction_kind: kind,
event_uuid: uuid,
event_metadata: {
importance: data.metadata ? data.metadata.importance : "unknown",
tactic: data.metadata ? data.metadata.tactic : "unknown",
technique: data.metadata ? data.metadata.technique : "unknown"
},
actions_taken: [],
data_accessed: [],
files_created: [],
network_operations: []
};
try {
// Log data access
if (data.process) {
auditRecord.data_accessed.push("process_data");
}
if (data.file) {
auditRecord.data_accessed.push("file_data");
}
if (data.background && data.background.flows) {
auditRecord.data_accessed.push("network_flow_data");
}
// Execute reaction with audit logging
if (shouldTerminateProcess(data)) {
let killResult = KillCurrent();
auditRecord.actions_taken.push({
action: "process_termination",
result: killResult === 0 ? "success" : "failed",
error: killResult !== 0 ? Errno() : null
});
}
if (shouldBlockNetwork(data)) {
let blockResult = NetBlockIp();
auditRecord.actions_taken.push({
action: "network_blocking",
result: blockResult === 0 ? "success" : "failed",
error: blockResult !== 0 ? Errno() : null
});
auditRecord.network_operations.push("ip_blocking");
}
// Document evidence collection
let evidenceDir = CreateTempDir("audit-evidence-*");
if (evidenceDir !== "") {
let evidencePath = evidenceDir + "/reaction_evidence.json";
WriteFile(evidencePath, JSON.stringify(data, null, 2));
auditRecord.files_created.push({
path: evidencePath,
purpose: "evidence_collection",
size: JSON.stringify(data).length
});
}
auditRecord.status = "completed";
} catch (error) {
auditRecord.status = "failed";
auditRecord.error = error.toString();
Error("Reaction execution failed: " + error.toString());
}
// Write audit record
let auditPath = "/var/log/jibril/reaction-audit.log";
WriteFile(auditPath, JSON.stringify(auditRecord) + "\n");
// Store audit record in data store for reporting
DataSet("audit_" + uuid, JSON.stringify(auditRecord));
}
function shouldTerminateProcess(data) {
// Implement business logic for process termination decisions
return data.metadata && data.metadata.importance === "critical";
}
function shouldBlockNetwork(data) {
// Implement business logic for network blocking decisions
return data.background && data.background.flows &&
data.metadata && data.metadata.importance === "high";
}
