// Block malicious IPs automatically
NetBlockIp("192.168.1.100");
// Block domains associated with threats
NetBlockDomain("malicious-site.com");
// Block all remote IPs from the current event
NetBlockIp(); // Uses event context
