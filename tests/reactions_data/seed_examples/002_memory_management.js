function process(data) {
// Avoid storing large objects in the data store
let summary = {
timestamp: new Date().toISOString(),
process: data.process ? data.process.exe : "unknown",
// Don't store the entire data object
event_type: kind
};
// Use string keys that are likely to be reused
let dateKey = new Date().toDateString();
let countKey = "events_" + dateKey;
// Implement rotation to prevent unlimited growth
let eventCount = parseInt(DataGet(countKey) || "0") + 1;
DataSet(countKey, String(eventCount));
// Clean up old data periodically
if (eventCount % 100 === 0) {
// Remove data older than 7 days
let cutoff = new Date();
cutoff.setDate(cutoff.getDate() - 7);
let keys = JSON.parse(DataKeys());
for (let key of keys) {
if (key.startsWith("events_")) {
let keyDate = new Date(key.replace("events_", ""));
if (keyDate < cutoff) {
DataDelete(key);
}
}
}
}
}
