Info("Detected suspicious file access");
Warn("High risk network connection identified");
Error("Critical security violation detected");
