require ["body", "fileinto"];
if body :content "text/html" :contains "invoice" { fileinto "html"; }
if body :content "text" :contains "forwarded" { fileinto "text"; }
if body :content "application/pdf" :contains "SECRETWORD" { fileinto "pdf"; }
if body :content "text/plain" :contains "brûlée" { fileinto "latin1"; }
