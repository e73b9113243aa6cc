require ["include", "variables", "fileinto"];
set "local" "main";
include "common";
fileinto "local-${local}";
