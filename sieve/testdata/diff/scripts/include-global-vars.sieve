require ["include", "variables", "fileinto"];
global "folder";
set "folder" "FromMain";
include "usesglobal";
fileinto "main-${folder}";
