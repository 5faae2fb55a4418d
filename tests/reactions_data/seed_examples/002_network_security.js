function process(data) {
// Extract network information safely
let remoteIps = [];
let remoteDomains = [];
if (data.background && data.background.flows && data.background.flows.protocols) {
for (let protocol of data.background.flows.protocols) {
if (protocol.pairs) {
for (let pair of protocol.pairs) {
if (pair.nodes && pair.nodes.remote) {
// Validate IP addresses before adding
let ip = pair.nodes.remote.address;
if (ip && /^(\d{1,3}\.){3}\d{1,3}$/.test(ip)) {
remoteIps.push(ip);
}
// Validate domain names
if (pair.nodes.remote.names) {
for (let domain of pair.nodes.remote.names) {
if (domain && domain.length > 0 && domain.length < 255) {
remoteDomains.push(domain);
}
}
}
}
}
}
}
}
// Apply whitelist logic to prevent blocking critical infrastructure
let safeToBlock = [];
let whitelist = [
"127.0.0.1", "localhost",
/^10\./, /^192\.168\./, /^172\.(1[6-9]|2[0-9]|3[0-1])\./,
"company-domain.com", "trusted-partner.org"
];
for (let ip of remoteIps) {
let shouldBlock = true;
for (let pattern of whitelist) {
if (pattern instanceof RegExp) {
if (pattern.test(ip)) {
shouldBlock = false;
break;
}
} else if (ip === pattern) {
shouldBlock = false;
break;
}
}
if (shouldBlock) {
safeToBlock.push(ip);
}
}
// Only block if we have valid targets
if (safeToBlock.length > 0) {
Info("Blocking " + safeToBlock.length + " suspicious IPs");
let result = NetBlockIp();
if (result === 0) {
Info("Network blocking successful");
}
}
}
