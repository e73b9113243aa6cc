require "fileinto";
if header :contains "subject" "digest" { fileinto "Lists"; }
elsif header :contains "from" "boss" { fileinto "Boss"; }
else { fileinto "INBOX.Other"; }
