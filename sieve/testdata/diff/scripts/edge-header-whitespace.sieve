require ["fileinto", "variables"];
if header :matches "x-spam-level" "*" { fileinto "level-[${1}]"; }
if header :is "x-spam-level" "" { fileinto "empty-level"; }
if header :matches "to" "*" { fileinto "to-[${1}]"; }
