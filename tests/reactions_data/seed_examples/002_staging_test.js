function process(data) {
Info("=== STAGING TEST EXECUTION ===");
// Enable test mode
DataSet("test_mode", "true");
// Test basic functionality
testReactionCapabilities(data);
// Test performance under load
testPerformance();
// Test error scenarios
testErrorScenarios();
// Clean up test data
DataDelete("test_mode");
Info("=== STAGING TEST COMPLETE ===");
}
function testReactionCapabilities(data) {
Info("Testing reaction capabilities");
// Test all major helper functions
let capabilities = [
"logging", "data_store", "file_ops", "network_ops"
];
for (let capability of capabilities) {
Info("Testing capability: " + capability);
switch (capability) {
case "logging":
Info("Info logging works");
Warn("Warning logging works");
Error("Error logging works");
break;
case "data_store":
DataSet("cap_test", "success");
let value = DataGet("cap_test");
Info("Data store: " + (value === "success" ? "PASS" : "FAIL"));
DataDelete("cap_test");
break;
case "file_ops":
let tmpDir = CreateTempDir("cap-test-*");
if (tmpDir !== "") {
let testPath = tmpDir + "/test.txt";
WriteFile(testPath, "test content");
let content = ReadFile(testPath);
Info("File ops: " + (content === "test content" ? "PASS" : "FAIL"));
}
break;
case "network_ops":
// Only test if netpolicy is available
Info("Network ops capability available");
break;
}
}
}
function testPerformance() {
Info("Testing performance characteristics");
let startTime = new Date().getTime();
// Simulate typical reaction workload
for (let i = 0; i < 100; i++) {
DataSet("perf_test_" + i, "value_" + i);
}
let midTime = new Date().getTime();
for (let i = 0; i < 100; i++) {
DataGet("perf_test_" + i);
}
let endTime = new Date().getTime();
// Clean up
for (let i = 0; i < 100; i++) {
DataDelete("perf_test_" + i);
}
let writeTime = midTime - startTime;
let readTime = endTime - midTime;
Info("Performance test - Write: " + writeTime + "ms, Read: " + readTime + "ms");
}
