function process(data) {
    let filePath = data.file ? data.file.file : "";

    if (filePath.startsWith("/etc/") || filePath.startsWith("/sys/")) {
        Error("Sensitive location: " + filePath);
        return;
    }

    let tmpDir = CreateTempDir("evidence-*");
    if (tmpDir !== "") {
        WriteFile(tmpDir + "/evidence.json", JSON.stringify(data));
    }
}
