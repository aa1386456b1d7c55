-- Opens AMISET_FILE in Neovim (headless), starts `AMISET_BIN lsp` as its
-- language server through Neovim's own LSP client, waits for diagnostics
-- and writes them to AMISET_OUT, one per line: code, line, byte column,
-- severity. Uses the API of Neovim 0.7 (Debian bookworm), which later
-- versions keep.
local file, bin, root, out = os.getenv("AMISET_FILE"), os.getenv("AMISET_BIN"), os.getenv("AMISET_ROOT"), os.getenv("AMISET_OUT")
vim.cmd("edit " .. vim.fn.fnameescape(file))
local id = vim.lsp.start_client({ name = "amiset", cmd = { bin, "lsp" }, root_dir = root })
vim.lsp.buf_attach_client(0, id)
vim.wait(30000, function() return #vim.diagnostic.get(0) > 0 end, 20)
local lines = {}
for _, d in ipairs(vim.diagnostic.get(0)) do
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or "?"
  table.insert(lines, string.format("%s %d %d %d", code, d.lnum, d.col, d.severity))
end
table.sort(lines)
vim.fn.writefile(lines, out)
vim.lsp.stop_client(id)
vim.cmd("qa!")
