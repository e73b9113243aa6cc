require ["include", "variables", "fileinto"];
set "global.g" "viaNS";
global "g";
fileinto "g-${g}-${global.g}";
