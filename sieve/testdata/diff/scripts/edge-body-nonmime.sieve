require ["body", "fileinto"];
if body :text :contains "Line 0399" { fileinto "last-line"; }
if body :content "text/plain" :contains "hello" { fileinto "plain-hello"; }
if body :content "multipart" :contains "multi-part" { fileinto "preamble"; }
if body :content "message/rfc822" :contains "needle" { fileinto "rfc822"; }
