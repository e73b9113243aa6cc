require ["body", "fileinto"];
if body :raw :contains "Content-Transfer-Encoding: base64" { fileinto "raw-b64"; }
if body :raw :contains "=0A" { fileinto "raw-qp"; }
if body :raw :contains "--b1" { fileinto "raw-boundary"; }
