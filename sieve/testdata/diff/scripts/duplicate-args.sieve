require ["duplicate", "fileinto", "variables"];
if header :matches "subject" "*" { set "s" "${1}"; }
if duplicate :handle "subj" :uniqueid "${s}" :seconds 3600 { fileinto "dup1"; }
if duplicate :header "from" :seconds 7200 :last { fileinto "dup2"; }
