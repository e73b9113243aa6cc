require ["variables", "fileinto"];
set "h" "subject";
if header :contains "${h}" "e" { fileinto "var-header"; }
