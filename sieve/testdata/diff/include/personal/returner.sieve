require ["include", "fileinto"];
if true { fileinto "in-returner"; return; }
fileinto "not-reached";
