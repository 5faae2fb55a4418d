function process(data) {
let startTime = new Date().getTime();
try {
// Main reaction logic
performReactionLogic(data);
// Track success metrics
let successCount = parseInt(DataGet("reaction_success_count") || "0") + 1;
DataSet("reaction_success_count", String(successCount));
} catch (error) {
// Track failure metrics
let failureCount = parseInt(DataGet("reaction_failure_count") || "0") + 1;
DataSet("reaction_failure_count", String(failureCount));
Error("Reaction failed: " + error.toString());
// Alert on high failure rates
let totalAttempts = successCount + failureCount;
if (totalAttempts > 100 && (failureCount / totalAttempts) > 0.1) {
Error("ALERT: Reaction failure rate exceeds 10%");
}
} finally {
// Track performance metrics
let executionTime = new Date().getTime() - startTime;
let avgTimeKey = "avg_execution_time";
let currentAvg = parseFloat(DataGet(avgTimeKey) || "0");
let newAvg = (currentAvg * 0.9) + (executionTime * 0.1); // Rolling average
DataSet(avgTimeKey, String(newAvg));
if (executionTime > 5000) { // Alert on slow reactions
Warn("Slow reaction execution: " + executionTime + "ms");
}
}
}
