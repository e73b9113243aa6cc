# messages: m01-plain.eml m16-boss.eml
require ["fileinto","encoded-character"];
fileinto "${hex:ff fe}";
