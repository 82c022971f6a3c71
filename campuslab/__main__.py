from campuslab.cli.main import app

app()
