# messages: m01-plain.eml m16-boss.eml
if size :under 1k { discard; }
if size :under 2M { redirect "m@example.net"; }
