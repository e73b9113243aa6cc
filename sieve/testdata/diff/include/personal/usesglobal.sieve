require ["include", "variables", "fileinto"];
global "folder";
fileinto "inc-${folder}";
set "folder" "FromInclude";
