function process(data) {
  // Validate input data
  if (!data || !data.process) {
    Error("Invalid event data received");
    return;
  }

  // Sanitize strings before logging
  let cmd = data.process.cmd || "unknown";
  if (cmd.length > 1000) {
    cmd = cmd.substring(0, 1000) + "... (truncated)";
  }

  Info("Process: " + cmd);
}
