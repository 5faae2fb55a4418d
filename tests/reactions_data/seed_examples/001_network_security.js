function process(data) {
    if (data.background && data.background.flows) {
        let remoteIps = [];
        // ... extract IPs ...

        for (let ip of remoteIps) {
            if (!ip.startsWith("10.") &&
                !ip.startsWith("192.168.") &&
                !ip.startsWith("172.16.")) {
                NetBlockIp(ip);
            }
        }
    }
}
