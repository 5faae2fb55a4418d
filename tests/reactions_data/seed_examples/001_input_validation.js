function process(data) {
    if (!data || !data.process) {
        Error("Invalid event data");
        return;
    }

    let cmd = data.process.cmd || "unknown";
    if (cmd.length > 1000) {
        cmd = cmd.substring(0, 1000) + "... (truncated)";
    }

    Info("Process: " + cmd);
}
