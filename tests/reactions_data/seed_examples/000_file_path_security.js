function process(data) {
  // Validate file paths
  let filePath = data.file ? data.file.file : "";

  // Ensure we're not writing to sensitive locations
  if (filePath.startsWith("/etc/") || filePath.startsWith("/sys/")) {
    Error("Attempted to write to sensitive location: " + filePath);
    return;
  }

  // Use safe temporary directories
  let tmpDir = CreateTempDir("evidence-*");
  if (tmpDir !== "") {
    let safePath = tmpDir + "/safe-evidence.json";
    WriteFile(safePath, JSON.stringify(data));
  }
}
