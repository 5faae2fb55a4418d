function process(data) {
// Use unique identifiers to avoid conflicts between parallel reactions
let reactionId = name + "_" + uuid.slice(-8);
let lockKey = "processing_" + reactionId;
// Simple distributed locking mechanism
if (DataHasKey(lockKey)) {
Info("Another instance is processing this event");
return;
}
// Set processing lock
DataSet(lockKey, new Date().toISOString());
try {
// Perform reaction logic
Info("Processing event: " + uuid);
// Use atomic operations where possible
let globalCount = parseInt(DataGet("global_event_count") || "0") + 1;
DataSet("global_event_count", String(globalCount));
} finally {
// Always clean up the lock
DataDelete(lockKey);
}
}
