require ["include", "fileinto"];
include "common";
include :global "spam";
fileinto "after-include";
