function process(data) {
  // Only block external IPs, not internal infrastructure
  if (data.background && data.background.flows) {
    // Extract remote IPs
    let remoteIps = [];
    // ... extraction logic ...

    for (let ip of remoteIps) {
      // Don't block internal network ranges
      if (!ip.startsWith("10.") && 
          !ip.startsWith("192.168.") && 
          !ip.startsWith("172.16.")) {
        NetBlockIp(ip);
      }
    }
  }
}
