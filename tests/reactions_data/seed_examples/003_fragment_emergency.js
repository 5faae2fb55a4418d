// System shutdown in critical situations
PowerOff();
// Trigger kernel panic for immediate halt
Panic();
