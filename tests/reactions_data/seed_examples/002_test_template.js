// Test Reaction Template
function process(data) {
let testMode = DataGet("test_mode") === "true";
if (testMode) {
Info("=== RUNNING IN TEST MODE ===");
// Test all helper functions
testHelperFunctions();
// Test data processing
testDataProcessing(data);
// Test error handling
testErrorHandling();
Info("=== TEST MODE COMPLETE ===");
return;
}
// Normal reaction logic
processEvent(data);
}
function testHelperFunctions() {
// Test logging functions
Info("Testing Info() function");
Warn("Testing Warn() function");
Error("Testing Error() function");
// Test data store functions
DataSet("test_key", "test_value");
let retrieved = DataGet("test_key");
Info("Data store test: " + (retrieved === "test_value" ? "PASS" : "FAIL"));
DataDelete("test_key");
// Test file operations (safe)
let testContent = "Test at " + new Date().toISOString();
let tmpDir = CreateTempDir("test-*");
if (tmpDir !== "") {
let testFile = tmpDir + "/test.txt";
let writeResult = WriteFile(testFile, testContent);
let readContent = ReadFile(testFile);
Info("File I/O test: " + (readContent === testContent ? "PASS" : "FAIL"));
}
// Test error function
let errno = Errno();
Info("Errno test: " + (typeof errno === "string" ? "PASS" : "FAIL"));
}
function testDataProcessing(data) {
Info("Testing data structure validation");
// Test data presence
Info("Data object type: " + typeof data);
Info("Data keys: " + Object.keys(data).join(", "));
// Test process data
if (data.process) {
Info("Process data available");
Info("Process cmd: " + (data.process.cmd || "N/A"));
Info("Process pid: " + (data.process.pid || "N/A"));
}
// Test file data
if (data.file) {
Info("File data available");
Info("File path: " + (data.file.file || "N/A"));
Info("File actions: " + (data.file.actions ? data.file.actions.join(", ") : "N/A"));
}
}
function testErrorHandling() {
Info("Testing error handling");
// Test invalid file operations
let invalidRead = ReadFile("/nonexistent/path");
Info("Invalid read test: " + (invalidRead === "" ? "PASS" : "FAIL"));
// Test invalid data store operations
let invalidGet = DataGet("nonexistent_key");
Info("Invalid get test: " + (invalidGet === "" ? "PASS" : "FAIL"));
}
