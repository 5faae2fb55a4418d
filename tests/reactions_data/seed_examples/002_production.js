// Production Reaction - Version 2.1.0
function process(data) {
// Configuration constants
const VERSION = "2.1.0";
const MAX_EXECUTION_TIME = 5000; // 5 seconds
const FAILURE_THRESHOLD = 0.1; // 10%
Info("Production reaction v" + VERSION + " executing");
// Implement production logic with full error handling
try {
executeProductionLogic(data);
} catch (error) {
handleProductionError(error, data);
}
}
function executeProductionLogic(data) {
// Validated production logic
Info("Executing validated production response");
// Implementation details...
}
function handleProductionError(error, data) {
Error("Production reaction error: " + error.toString());
// Log error details for debugging
let errorRecord = {
timestamp: new Date().toISOString(),
version: "2.1.0",
error: error.toString(),
event_uuid: uuid,
data_summary: {
has_process: !!data.process,
has_file: !!data.file,
event_type: kind
}
};
WriteFile("/var/log/jibril/reaction-errors.log",
JSON.stringify(errorRecord) + "\n");
}
